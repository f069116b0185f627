"""The results document: its format and checks (`document`), its provenance (`provenance`), and
its files on disk (`files`). Nothing else reads or writes a results file."""
