"""Render one synthetic video (rule synthesize_video)."""
from pathlib import Path

from vadlib.data.synthetic import plan_videos, render_video
from vadlib.runtime import stage

with stage(snakemake):
    cfg = dict(snakemake.params.synthetic)
    video = snakemake.wildcards.video
    plan = {p.video: p for p in plan_videos(cfg)}[video]
    render_video(plan, cfg, Path(snakemake.output.video).parent.parent)
