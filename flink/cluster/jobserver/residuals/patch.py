#!/usr/bin/env python3
"""Bound the SDF residual state of Beam 2.62.0's portable Flink runner.

Why: in Beam 2.62.0 (the newest job server these machines can resolve,
flink/cluster/cluster.sh), every residual a splittable DoFn hands back
when its bundle ends is kept under a state tag of its own,
"sdf_checkpoint:<bundle>:<index>", as a ValueState that is read when the
residual's timer fires and never cleared. Flink's keyed state backend
registers one more state for every tag and writes all of them into every
checkpoint, so a live job's reader stage grows without bound: about
180 KB a minute on the local cluster, 36 new tags a minute (BENCHMARKS.md,
"The reader stage's state growth found and bounded"). This is
apache/beam#27648, fixed upstream after 2.62.

The edit here (our own; applied to the pinned 2.62.0 sources by
cluster.sh fetch, compiled, and put before Beam's jars on the job server's
class path, which the runner also stages to the TaskManagers):
  * the checkpoint handler keeps every residual of a key and window in one
    MapState, "sdf_checkpoint_residuals", keyed by the timer id;
  * the streaming operator and the batch stage function take a residual
    out of that map when its timer fires (read, then remove), so the state
    holds only residuals still waiting;
  * a residual written by the unpatched runner (a savepoint taken before)
    is still found under its old ValueState tag, and cleared once read.

That MapState is the runner's own Flink keyed state (FlinkStateInternals,
as its other internal state), not Beam user state: the Map, Set and
OrderedList user state that Go DoFns cannot use on Flink's portable runner
(transforms/topics/join.go, ../shared/notes/REAL-CLUSTER.md section 5) is a
limit of the runner's Fn API state handler, which this does not touch. The
pipeline's own DoFns still keep Bag and Value state only.

Usage: patch.py SRC_DIR, where SRC_DIR holds the three files below, as the
2.62.0 sources jars unpack them. Every edit must match exactly once, so
a different Beam version fails here instead of compiling something else.
"""
import pathlib
import re
import sys

HANDLER = "org/apache/beam/runners/fnexecution/control/BundleCheckpointHandlers.java"
OPERATOR = "org/apache/beam/runners/flink/translation/wrappers/streaming/ExecutableStageDoFnOperator.java"
BATCH = "org/apache/beam/runners/flink/translation/functions/FlinkExecutableStageFunction.java"

# take is the one place a residual is read back: from the map, or from
# the per-residual tag an unpatched runner wrote (then cleared too).
TAKE = '''
    /** The state id under which every residual of a key and window is kept (trendstream). */
    public static final String RESIDUALS = "sdf_checkpoint_residuals";

    /** One stable MapState per key and window, keyed by the residual's timer id. */
    public static <T> org.apache.beam.runners.core.StateTag<
            org.apache.beam.sdk.state.MapState<String, WindowedValue<T>>>
        residuals(Coder<WindowedValue<T>> residualCoder) {
      return StateTags.map(
          RESIDUALS, org.apache.beam.sdk.coders.StringUtf8Coder.of(), residualCoder);
    }

    /**
     * Removes and returns the residual of timerId, or null when there is none. A residual
     * an unpatched runner wrote under its own tag is read from there and cleared.
     */
    public static <T> WindowedValue<T> take(
        StateInternals stateInternals,
        StateNamespace namespace,
        String timerId,
        Coder<WindowedValue<T>> residualCoder) {
      org.apache.beam.sdk.state.MapState<String, WindowedValue<T>> all =
          stateInternals.state(namespace, residuals(residualCoder));
      WindowedValue<T> value = all.get(timerId).read();
      if (value != null) {
        all.remove(timerId);
        return value;
      }
      org.apache.beam.sdk.state.ValueState<WindowedValue<T>> legacy =
          stateInternals.state(namespace, StateTags.value(timerId, residualCoder));
      value = legacy.read();
      legacy.clear();
      return value;
    }

    @Override
    public void onCheckpoint('''


def edit(text, pattern, repl, name):
    out, n = re.subn(pattern, lambda _: repl, text, flags=re.S)
    if n != 1:
        sys.exit(f"patch.py: {name}: expected one match, found {n}")
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: patch.py SRC_DIR")
    src = pathlib.Path(sys.argv[1])

    p = src / HANDLER
    t = p.read_text()
    t = edit(t, r"\n    @Override\n    public void onCheckpoint\(", TAKE, "handler: take")
    t = edit(
        t,
        r"\.state\(stateNamespace, StateTags\.value\(tag, residualCoder\)\)\s*\.write\(",
        ".state(stateNamespace, residuals(residualCoder))\n                .put(\n                    tag,",
        "handler: put",
    )
    p.write_text(t)

    p = src / OPERATOR
    t = p.read_text()
    # A compile-time annotation whose jar (spotbugs-annotations) is not on
    # the job server's class path; it does nothing at run time.
    t = edit(t, r"import edu\.umd\.cs\.findbugs\.annotations\.SuppressFBWarnings;\n", "", "operator: import")
    t = edit(t, r"@SuppressFBWarnings\([^)]*\)\n", "", "operator: annotation")
    t = edit(
        t,
        r"WindowedValue stateValue =\s*keyedStateInternals\.state\(namespace, StateTags\.value\(timerId, residualCoder\)\)\.read\(\);\s*processElement\(stateValue\);",
        "WindowedValue stateValue =\n"
        "            StateAndTimerBundleCheckpointHandler.take(\n"
        "                keyedStateInternals, namespace, timerId, residualCoder);\n"
        "        if (stateValue != null) {\n"
        "          processElement(stateValue);\n"
        "        } else {\n"
        '          LOG.warn("No SDF residual for timer {}; skipped", timerId);\n'
        "        }",
        "operator: onTimer",
    )
    p.write_text(t)

    p = src / BATCH
    t = p.read_text()
    t = edit(
        t,
        r"WindowedValue stateValue =\s*sdfStateInternals\s*\.state\(timer\.getNamespace\(\), StateTags\.value\(timer\.getTimerId\(\), inputCoder\)\)\s*\.read\(\);\s*residuals\.add\(stateValue\);",
        "WindowedValue stateValue =\n"
        "                BundleCheckpointHandlers.StateAndTimerBundleCheckpointHandler.take(\n"
        "                    sdfStateInternals, timer.getNamespace(), timer.getTimerId(), inputCoder);\n"
        "            if (stateValue != null) {\n"
        "              residuals.add(stateValue);\n"
        "            }",
        "batch: residuals",
    )
    p.write_text(t)


if __name__ == "__main__":
    main()
