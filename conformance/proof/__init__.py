"""Evidence about the suite itself: what its checks can and cannot detect."""
