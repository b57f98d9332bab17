package log

const (
	crashHelperEnv = "YGGR_LOG_CRASH_HELPER"
	rssHelperEnv   = "YGGR_LOG_RSS_HELPER"
)
