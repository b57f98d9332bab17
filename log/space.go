package log

// A checkpoint copies what the write-ahead log holds into Badger, whose
// value log and tables are memory-mapped files: a write into a mapped page
// that the file system cannot back (a full disk) is a SIGBUS that kills
// the process, not an error. So a checkpoint first checks that the file
// system has room for the bytes it moves plus checkpointHeadroom (two
// value-log files and Badger's memtables), and waits otherwise: the WAL
// keeps the records, which stay durable and readable, and the next Write
// asks again. If the disk stays full, the WAL itself runs out of room for
// its next segment, and that Write fails with the file system's error
// (ENOSPC): the node stops cleanly instead of crashing. The runtime refuses
// new writes well before that (internal/node's disk reserve).
const checkpointHeadroom = 2*valueLogFileSize + 8<<20

// roomForCheckpoint reports whether the file system holding the store has
// room for a checkpoint that moves pending bytes. When it cannot tell, it
// says yes: Badger's own errors remain.
func (s *Store) roomForCheckpoint(pending int64) bool {
	if s.opts.InMemory {
		return true
	}
	statfs := s.opts.freeBytes
	if statfs == nil {
		statfs = FreeBytes
	}
	free, err := statfs(s.where)
	if err != nil {
		return true
	}
	need := uint64(max(pending, 0)) + checkpointHeadroom
	if free >= need {
		if s.checkpointWaiting {
			s.logger.Info("log: free space is back; checkpoints resume", "dir", s.where, "free_bytes", free)
			s.checkpointWaiting = false
		}
		return true
	}
	if !s.checkpointWaiting {
		s.logger.Warn("log: too little free space for a checkpoint; the write-ahead log holds the records until there is",
			"dir", s.where, "free_bytes", free, "need_bytes", need)
		s.checkpointWaiting = true
	}
	s.checkpointsWaited.Add(1)
	return false
}

// CheckpointsWaited returns how many checkpoints waited for free space.
func (s *Store) CheckpointsWaited() uint64 { return s.checkpointsWaited.Load() }
