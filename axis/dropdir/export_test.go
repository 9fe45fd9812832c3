package dropdir

// SetTestHooks lets the crash test (package dropdir_test) widen the windows between the
// steps of a move. Call it before Run.
func SetTestHooks(submitted func(name string, err error), rejectMoved func(name string)) {
	testHookSubmitted, testHookRejectMoved = submitted, rejectMoved
}

// SetNoWatch turns file system notifications off, leaving the periodic rescan alone.
func SetNoWatch(off bool) { testNoWatch = off }
