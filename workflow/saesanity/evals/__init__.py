"""Evaluations of saved SAEs, one sub-package per family; each family's __init__ names its entry points,
the functions the evaluations' commands (cli.py) call for their jobs.

- core.py, recovery.py, synthetic.py: EV, L0, dead latents (Eq. 5) and recovery of known features (Eq. 6);
  synthetic.py holds the per-SAE records of the eval_core and eval_recovery jobs.
- lm_loss.py: CE-loss recovered and KL score with the SAE spliced into the language model.
- identity.py: the identity fields every per-SAE metrics JSON starts with.
- registry.py: the evaluations table2.csv, its figures and the sanity verdict read, and their metrics.
- cli.py: the commands of the evaluation jobs (`python -m saesanity eval-core`, ...) and their arguments.
- consistency/: MCC (exact and sparse with a certificate), PW-MCC across seeds, PW-MCC against ground truth.
- probing/: sparse probing (SAEBench protocol).
- ravel/: RAVEL-style causal editing with MDBM masks.
- autointerp/: detection scoring and the toy world's ground-truth concept check.
"""
