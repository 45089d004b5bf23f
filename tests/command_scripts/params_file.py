"""A trial program that reads its parameters from ``$ASYNCHPO_PARAMS_FILE``.

    python params_file.py [MODE]

Prints a result whose loss is the sum of the parameters' values, with what it saw: how many
parameters, whether ``ASYNCHPO_PARAMS`` was set too (and then whether it holds the same), and
the file's path. MODE ``env`` reads ``ASYNCHPO_PARAMS`` instead, as an older program would.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    if sys.argv[1:] == ["env"]:
        params = json.loads(os.environ["ASYNCHPO_PARAMS"])
    else:
        path = os.environ["ASYNCHPO_PARAMS_FILE"]
        with open(path, encoding="utf-8") as file:
            params = json.load(file)
    in_env = os.environ.get("ASYNCHPO_PARAMS")
    result = {
        "loss": sum(value for value in params.values() if isinstance(value, int | float)),
        "count": len(params),
        "in_env": in_env is not None,
        "same": in_env is not None and json.loads(in_env) == params,
        "path": os.environ["ASYNCHPO_PARAMS_FILE"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
