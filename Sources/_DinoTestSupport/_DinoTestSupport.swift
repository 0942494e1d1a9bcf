// _DinoTestSupport
