"""The discover stage: which files there are (loose, gzipped, inside zip exports), which of them a
run must read, and what the exports' catalogues say about them."""
