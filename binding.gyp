# node-gyp alternative to CMakeLists.txt (npm run build:native:gyp -> scripts/build-gyp.mjs,
# which passes --nodedir so that no headers are downloaded). libtorch comes from the same
# locator as the cmake build: scripts/locate-torch.mjs (set AEB_TORCH_LOCATED to reuse a probe).
{
  "targets": [
    {
      "target_name": "aeb",
      "sources": [
        "<!@(node -e \"for (const d of ['native/core','native/binding']) for (const f of require('fs').readdirSync(d).sort()) if (f.endsWith('.cpp')) console.log(d + '/' + f)\")"
      ],
      "include_dirs": [
        "native/core",
        "native/binding",
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/locate-torch.mjs --gyp include_dirs)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "cflags_cc": [
        "-std=c++17",
        "-fexceptions",
        "-frtti",
        "-O3",
        "-fvisibility=hidden",
        "<!@(node -e \"process.stdout.write(process.env.AEB_MARCH === '' ? '' : '-march=' + (process.env.AEB_MARCH || 'native'))\")",
        "<!@(node scripts/locate-torch.mjs --gyp cflags)"
      ],
      "ldflags": ["<!@(node scripts/locate-torch.mjs --gyp ldflags)"],
      "libraries": ["<!@(node scripts/locate-torch.mjs --gyp libraries)", "-ldl", "-lpthread"],
      "conditions": [
        ["<!(node -p \"require('fs').existsSync('/usr/include/zlib.h') ? 1 : 0\")==1", {
          "defines": ["AEB_HAVE_ZLIB"],
          "libraries": ["-lz"]
        }]
      ]
    }
  ]
}
