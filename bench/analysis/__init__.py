"""What a results file says: statistics (`stats`), `compare`, the Markdown `report`, the `plots`
and the console `tables`. Reads results files only and imports no JAX, so it stays fast."""
