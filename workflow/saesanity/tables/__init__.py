"""The tables (results/tables/*.csv), tidy: one row per SAE and metric, with the paper's number beside ours.
tidy.py holds what they share (the metrics-file reader, seed means, paper values, the CSV writer);
synthetic.py, validation.py, lm.py and table2.py build one rule's tables each."""
