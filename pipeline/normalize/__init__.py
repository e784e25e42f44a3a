"""The normalize stage: a parsed file's records become canonical samples, laps and activity rows
in the output tables' columns (schema), units, sports and time zones."""
