"""Optical flow between consecutive frames and flow-based pseudo-anomalies."""
