"""Images: content store, OCI image layout, layers, snapshots, unpack, import and export."""
