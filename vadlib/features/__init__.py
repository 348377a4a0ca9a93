"""Snippet features: I3D ten-crop extraction from frames stores, and import of published features.

- :mod:`vadlib.features.tencrop`  resize, ten crops and Kinetics normalisation of 16-frame snippets
- :mod:`vadlib.features.i3d`      pytorchvideo's I3D R50 as a 2048-d feature network, checkpoint loading
- :mod:`vadlib.features.extract`  the extraction stage (``extract_features``)
- :mod:`vadlib.features.importer` the import stage for the RTFM and XD-Violence layouts
  (``list_imported_videos``, ``import_video``, ``import_ground_truth``; ``annotation_ground_truth`` for
  XD-Violence's test annotation)
"""
