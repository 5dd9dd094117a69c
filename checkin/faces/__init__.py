"""The face path, pure: image bytes or arrays in, boxes, quality verdicts and encodings out.

`engine` is its interface (photos for enrollment, frames for the kiosk), the same rules over
either face model (`model.FaceModel`): `sface_model` (YuNet + SFace, `sface_net`, the default)
or `dlib_model` (HOG `detect`, dlib's network `dlib_net`). Beside them: `image` loads, `quality`
judges a face, `metric` compares embeddings, `views` makes the chip's mirror and jitters.
Nothing here reads a database or knows the web; other floors hand it arrays and settings
values and get frozen dataclasses back.
"""
