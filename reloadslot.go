package main

import (
	"context"
	"sync/atomic"

	"github.com/mtguard/mtguard/inspect"
)

// reloadSlot holds the config reloader once cmdServe has attached it (reload.go defines it and
// uses this file, so this file names only the admin API's interface). Until then, and in the
// demo, a reload answers that it is not available.
type reloadSlot struct{ r atomic.Value } // an inspect.Reloader

func (rs *reloadSlot) set(r inspect.Reloader) { rs.r.Store(r) }

// Reload hands the request to the attached reloader.
func (rs *reloadSlot) Reload(ctx context.Context, req inspect.ReloadRequest) inspect.ReloadReport {
	if r, ok := rs.r.Load().(inspect.Reloader); ok {
		return r.Reload(ctx, req)
	}
	return inspect.ReloadReport{Problems: []string{"this mtguard cannot reload its config: it was not started with mtguard serve --config FILE"}}
}
