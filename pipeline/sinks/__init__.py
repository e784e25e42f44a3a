"""Where the tables land, and where every command reads them back from."""
