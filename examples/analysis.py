# A small analysis, run as one sandbox cell:
#   runpad sandbox run examples/analysis.py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

rng = np.random.default_rng(7)
frame = pd.DataFrame({"x": np.arange(50), "y": np.cumsum(rng.normal(size=50))})
print("rows:", len(frame), "mean y:", round(frame.y.mean(), 3))
frame.plot(x="x", y="y", title="a random walk")
plt.savefig("walk.png")
frame.describe()
