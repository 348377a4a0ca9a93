"""Frame-level evaluation: metrics, the auc.json report and its figures."""
