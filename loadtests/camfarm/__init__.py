"""Camera farm: many synthetic RTSP cameras (looping pre-encoded clips) for demos and load tests.

:mod:`.clips` encodes and caches the clips, :mod:`.farm` serves them with the hub's own RTSP
server (``CameraFarm``, ``CameraSpec``), ``python -m loadtests.camfarm`` runs a farm.
"""
