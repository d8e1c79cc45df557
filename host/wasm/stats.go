package wasm

// MemoryBytes returns the linear memory of the plugin's healthy
// instances, summed. It waits for a guest call in progress on an
// instance (bounded by the call deadline), as memory only changes
// during calls.
func (p *Plugin) MemoryBytes() uint64 {
	p.mu.Lock()
	pool := append([]*instance(nil), p.pool...)
	p.mu.Unlock()
	var n uint64
	for _, in := range pool {
		in.mu.Lock()
		if !in.closed && in.mod != nil {
			if mem := in.mod.Memory(); mem != nil {
				n += uint64(mem.Size())
			}
		}
		in.mu.Unlock()
	}
	return n
}
