"""RULE.md's two rules applied to explore.py's records: which cases each fires on, by the case's sensitivity.

    python experiments/underseg_warning/check_rules.py RECORD.json [RECORD.json ...]

First rule: at least 10 mL found and more borderline tissue (0.2 <= P(WMH) < threshold) than found. Second rule
(shipped, RadioWMHSegLib/undercall_check.py): the same with only the borderline tissue in white matter.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from RadioWMHSegLib.undercall_check import undercall_warning  # noqa: E402  (after the path)

MIN_FOUND_ML = 10.0
RULES = {"first": "borderline_0.2_ml", "second": "borderline_0.2_in_wm_ml"}


def fires(case: dict, key: str):
    if key not in case:
        return None  # a record made before the white-matter split
    if key == RULES["second"]:  # the shipped rule, from the library itself, so that the two cannot drift apart
        return undercall_warning(case["found_ml"], case[key]) is not None
    return case["found_ml"] >= MIN_FOUND_ML and case[key] > case["found_ml"]


def main():
    for path in sys.argv[1:]:
        cases = json.load(open(path))["cases"]
        print(f"\n{path}")
        for rule, key in RULES.items():
            groups = {"sensitivity < 0.3": [], "0.3 <= sensitivity < 0.5": [], "sensitivity >= 0.5": [],
                      "no truth or no WMH": []}
            for case in cases:
                s = case.get("sensitivity")
                group = ("no truth or no WMH" if s is None else "sensitivity < 0.3" if s < 0.3
                         else "0.3 <= sensitivity < 0.5" if s < 0.5 else "sensitivity >= 0.5")
                groups[group].append(case)
            cells = []
            for group, members in groups.items():
                fired = [c["case"] for c in members if fires(c, key)]
                known = [c for c in members if fires(c, key) is not None]
                cells.append(f"{group}: {len(fired)} of {len(known)}" + (f" ({', '.join(fired)})" if fired else ""))
            print(f"  {rule} rule: " + "; ".join(cells))


if __name__ == "__main__":
    main()
