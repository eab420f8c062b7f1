package policy

// MatcherCount lets tests see that matchers are released.
func MatcherCount(e *Engine) int { return len(e.matchers) }
