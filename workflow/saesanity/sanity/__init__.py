"""Does an SAE from elsewhere beat random baselines? Importing it (importer), writing the offline examples
(example) and the verdict against its matched baselines (verdict)."""
