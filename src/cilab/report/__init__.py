"""`cilab report`: a static HTML report of every run under a folder (see `build`)."""
