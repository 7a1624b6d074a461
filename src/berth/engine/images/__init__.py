"""Images for containers: roots from the image store and snapshotter, and pulling a missing image."""
