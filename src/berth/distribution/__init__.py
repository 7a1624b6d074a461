"""Distribution: OCI Distribution Spec registry server and client."""
