"""Photos to face templates: roster files, the photo pipeline (a worker pool over the face
engine), persistence, look-alikes and identify."""
