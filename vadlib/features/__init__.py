"""Snippet features: I3D ten-crop extraction from frames stores or videos, and import of published features.

- :mod:`vadlib.features.tencrop`  resize, ten crops (in a recorded order) and normalisation of 16-frame snippets
- :mod:`vadlib.features.i3d`      pytorchvideo's I3D R50 as a 2048-d feature network, checkpoint loading,
  and ``build_i3d`` for either backbone
- :mod:`vadlib.features.resnet3d` pytorch-resnet3d's I3Res50 (the published RTFM features' backbone) and
  its ``i3d_r50_kinetics.pth``
- :mod:`vadlib.features.extract`  the extraction stage (``extract_features`` from a frames store,
  ``extract_features_from_source`` streamed from the video)
- :mod:`vadlib.features.importer` the import stage for the RTFM and XD-Violence layouts
  (``list_imported_videos``, ``import_video``, ``import_ground_truth``; ``annotation_ground_truth`` for
  XD-Violence's test annotation)
"""
