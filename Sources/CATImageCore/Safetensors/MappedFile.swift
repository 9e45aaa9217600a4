#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only memory map of a whole file, unmapped when the last reference goes.
final class MappedFile: @unchecked Sendable {
    // Safe to share across threads: the mapping is read-only and never changes after `init`; the pointer is
    // released only in `deinit`, when no other reference exists.

    /// The first byte, or nil for an empty file (which cannot be mapped).
    let base: UnsafeRawPointer?
    /// The file's size in bytes.
    let count: Int

    /// Maps `path` for reading.
    init(path: String) throws(SafetensorsError) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw SafetensorsError(.unreadableFile, file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw SafetensorsError(.unreadableFile, file: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw SafetensorsError(.unreadableFile, file: path, "not a regular file")
        }
        count = Int(status.st_size)
        guard count > 0 else {
            base = nil
            return
        }
        let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw SafetensorsError(.unreadableFile, file: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(address)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// The bytes `range` (which the caller has checked lies inside the file).
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "byte range \(range) outside \(count)")
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}
