"""Evidence about the suite itself: false alarms, power, mutation score, speed."""
