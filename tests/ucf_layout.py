"""UCF-Crime's release layout at any size, with empty video files: what listing the dataset and
planning the workflow read (the split lists, the annotation file, the folders), never a video's bytes.
Used by the adapter tests and by bench/bench_dag.py (a dry run on the dataset's full size)."""

from __future__ import annotations

from pathlib import Path

CLASSES = ("Abuse", "Arrest", "Arson", "Assault", "Burglary", "Explosion", "Fighting", "RoadAccidents", "Robbery",
           "Shooting", "Shoplifting", "Stealing", "Vandalism")
SPLITS = "UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits"
ANNOTATIONS = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
# The release: 1,610 training videos (810 abnormal, 800 normal) and 290 test videos (140 abnormal, 150 normal).
FULL_SIZE = {"train_abnormal": 810, "train_normal": 800, "test_abnormal": 140, "test_normal": 150}


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_ucf_crime_release(root: Path, train_abnormal: int, train_normal: int, test_abnormal: int,
                            test_normal: int) -> Path:
    """Write the layout under ``root`` (the adapter's defaults find everything: ``Anomaly-Videos-Part-1``,
    ``Training-Normal-Videos-Part-1``, ``Testing_Normal_Videos_Anomaly``, both split lists and the
    annotation file). Abnormal videos cycle through the 13 classes; each test anomaly covers frames
    10-20. Returns ``root``."""
    videos, train, test, annotations = [], [], [], []
    for i in range(train_abnormal + test_abnormal):
        cls = CLASSES[i % len(CLASSES)]
        name = f"{cls}{i:04d}_x264.mp4"
        videos.append(f"Anomaly-Videos-Part-1/{cls}/{name}")
        if i < train_abnormal:
            train.append(f"{cls}/{name}")
        else:
            test.append(f"{cls}/{name}")
            annotations.append(f"{name}  {cls}  10  20  -1  -1")
    for i in range(train_normal):
        name = f"Normal_Videos{i:04d}_x264.mp4"
        videos.append(f"Training-Normal-Videos-Part-1/{name}")
        train.append(f"Training_Normal_Videos_Anomaly/{name}")
    for i in range(test_normal):
        name = f"Normal_Videos_{i:04d}_x264.mp4"
        videos.append(f"Testing_Normal_Videos_Anomaly/{name}")
        test.append(f"Testing_Normal_Videos_Anomaly/{name}")
        annotations.append(f"{name}  Normal  -1  -1  -1  -1")
    for rel in videos:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    _write_lines(root / SPLITS / "Anomaly_Train.txt", train)
    _write_lines(root / SPLITS / "Anomaly_Test.txt", test)
    _write_lines(root / ANNOTATIONS, annotations)
    return root
