"""A program for the CLI screen tests: prints a JSON result with a metric besides the loss."""

import json
import os

params = json.loads(os.environ["ASYNCHPO_PARAMS"])
loss = abs(params["lr"] - 0.01) + params["layers"] / 10
print(json.dumps({"loss": loss, "accuracy": round(1 - loss / 2, 4)}))
