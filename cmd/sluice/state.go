package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
)

// runState prints a stateful operator's state from the checkpoint of a
// built-in job (see sluice.StateMain): the job is rebuilt from the program
// and arguments its checkpoint recorded, as `sluice replay` does.
func runState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := sluice.StateMain(ctx, "sluice state", args, func(info *sluice.CheckpointInfo) (func(*sluice.Context), error) {
		builder, ok := replayable[info.Program]
		switch {
		case info.Program == "":
			return nil, fmt.Errorf("the job did not record its program (sluice.Program): run `PROGRAM state` with its own program")
		case !ok:
			return nil, fmt.Errorf("the checkpoint is of %q, not a built-in job (%s): run `PROGRAM state` with its own program",
				info.Program, strings.Join(slices.Sorted(maps.Keys(replayable)), ", "))
		}
		return builder(info.Args)
	}, stdout, stderr)
	if err != nil && strings.Contains(err.Error(), "needs --checkpoint and --operator") {
		return errUsage
	}
	return err
}
