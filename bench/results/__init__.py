"""The results document: reading and checking it (`document`), its format (`schema`, made of the
field `checks`), what its fields must agree on (`validation`), reading schema-1 files (`upgrade`),
its provenance (`provenance`), and its files on disk (`files`). Nothing else reads or writes a
results file."""
