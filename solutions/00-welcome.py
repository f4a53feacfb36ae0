"""Solutions to the exercises of notebooks/00-welcome.ipynb (one section per exercise cell)."""

# %% Exercise 00.1: return the version of the running Redis, as written in its log
import re


def redis_version(lab) -> str:
    # Redis writes "Redis version=7.0.15, bits=64, ..." each time it starts.
    found = re.findall(r"Redis version=([\d.]+)", lab.logs("redis", lines=200))
    return found[-1]
