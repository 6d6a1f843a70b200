"""Deployment helpers: `tickcast stage` (build/ for Terraform and the bridge image) and `tickcast cost`."""
