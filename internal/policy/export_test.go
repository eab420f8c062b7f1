package policy

// MatcherCount lets tests see that matchers are released.
func MatcherCount(e *Engine) int { return len(e.matchers) }

// LabelSetCount lets tests see that shared label sets are released.
func LabelSetCount(e *Engine) int { return len(e.labelSets) }

// PortSetCount lets tests see that shared port lists are released.
func PortSetCount(e *Engine) int { return len(e.portSets) }
