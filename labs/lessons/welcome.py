"""Lesson 00's view of a lab: how long each component took to start and how much memory it holds.

Layer: lessons.
"""
from __future__ import annotations


def startup_chart(lab):
    """Two bar charts side by side: seconds from spawn to ready, and resident memory (MiB)."""
    import matplotlib.pyplot as plt

    rows = lab.status()
    names = [r["name"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 0.6 + 0.5 * len(rows)), sharey=True)
    left.barh(names, [r["ready_s"] or 0 for r in rows], color="#4c72b0")
    left.set_xlabel("seconds from spawn to ready")
    right.barh(names, [r["rss_mib"] for r in rows], color="#dd8452")
    right.set_xlabel("resident memory (MiB)")
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
        ax.bar_label(ax.containers[0], fmt="%.1f", padding=3)
    left.invert_yaxis()
    fig.tight_layout()
    return fig
