"""`edged bench pipeline`: the bare bound and the real daemon on the same film, same model, same rate."""
