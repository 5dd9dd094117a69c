"""From kiosk frames to check-in decisions, independent of the socket that carries them.

`pipeline` queues a kiosk's frames (newest live frame only, buffered frames in order), sends
them through the `workers` pool (face work off the event loop), tracks faces (`tracker`),
decides each encoding against the meeting's `gallery` (`decision`) and records a confirmed
track as a face check-in through the meetings floor.
"""
