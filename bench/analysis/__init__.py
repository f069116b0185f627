"""What a results file says: statistics (`stats`), `compare`, the Markdown `report`, the `plots`
(and what every figure shares: `figures`), a search's plots and table (`search`) and the console
`tables`. Reads results files only and imports no JAX, so it stays fast."""
