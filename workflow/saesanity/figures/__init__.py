"""One module per figure; render.py says which figures each results folder holds and draws them. Light on
purpose: importing one module of the package (the CLI imports its commands' module for every job) loads that
module alone, not matplotlib and every figure."""
