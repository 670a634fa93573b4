#include "fs/kernel/mountinfo.h"

#include <fstream>

namespace ccfs {

std::string UnescapeMountinfo(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int v = 0;
      bool octal = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = field[i + k];
        if (c < '0' || c > '7') octal = false;
        v = v * 8 + (c - '0');
      }
      if (octal && v < 256) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::vector<MountEntry> ReadMountTable(const std::string& table_path) {
  std::vector<MountEntry> out;
  std::ifstream in(table_path);
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source super
    std::vector<std::string> fields;
    size_t pos = 0;
    while (pos <= line.size()) {
      size_t end = line.find(' ', pos);
      if (end == std::string::npos) end = line.size();
      fields.push_back(line.substr(pos, end - pos));
      pos = end + 1;
    }
    if (fields.size() < 7) continue;
    for (size_t i = 6; i + 1 < fields.size(); ++i) {
      if (fields[i] != "-") continue;
      MountEntry e;
      e.mountpoint = UnescapeMountinfo(fields[4]);
      e.fstype = fields[i + 1];
      if (i + 2 < fields.size()) e.source = UnescapeMountinfo(fields[i + 2]);
      out.push_back(std::move(e));
      break;
    }
  }
  return out;
}

std::string MountedFsType(const std::string& path, const std::string& table_path) {
  std::string fstype;
  for (const MountEntry& e : ReadMountTable(table_path)) {
    if (e.mountpoint == path) fstype = e.fstype;  // the last mount on a path is the visible one
  }
  return fstype;
}

}  // namespace ccfs
