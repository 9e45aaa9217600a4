/// The smallest valid gateway config, for tests of one section: append a section to it.
enum ConfigFixture {
    static let minimal = """
        router: r.catimage
        generators:
          a: {backend: a1111, base_url: "http://127.0.0.1:1"}
        """
}
