"""The face path, pure: image bytes or arrays in, boxes, quality verdicts and encodings out.

`engine` is its interface (photos for enrollment, frames for the kiosk); behind it `image`
loads, `detect` finds faces, `quality` judges them, `dlib_model` aligns and encodes with the
network of `dlib_net`. Nothing here reads a database or knows the web; other floors hand it
arrays and settings values and get frozen dataclasses back.
"""
