# Renders a BOSH job's templates the way the director does, for tests (no bosh CLI needed):
# the job's properties are the spec's names looked up in the manifest's job properties,
# else the spec's default; p(), if_p(), spec and link() follow bosh-template's
# EvaluationContext (a missing property without default raises "Can't find property").
#   ruby bosh_render.rb render JOB_DIR MANIFEST OUTDIR
#       renders every template (and copies monit) into OUTDIR, bin/* mode 0755; exit 1
#       with "render: TEMPLATE: MESSAGE" on stderr when a template raises
#   ruby bosh_render.rb config-keys CONFIG_C
#       prints attachd's config keys (dotted), read from agent/config.c's field tables
#   ruby bosh_render.rb check-spec JOB_DIR CONFIG_C FUTURE_KEY...
#       checks that the spec documents every config key and only config keys, "(config:
#       KEY)" mappings or "(BOSH only)" properties; FUTURE_KEYs (DESIGN.md keys the agent
#       does not parse yet) are allowed too. Prints every problem; exit 1 if any.
require 'erb'
require 'fileutils'
require 'json'
require 'ostruct'
require 'yaml'

class UnknownProperty < StandardError
  def initialize(names)
    super("Can't find property '#{names.join("', or '")}'")
  end
end

# bosh-template's else-blocks: if_p(...) { }.else { }
class ActiveElseBlock
  def else; end

  def else_if_p(*_names); self; end
end

class InactiveElseBlock
  def initialize(ctx); @ctx = ctx; end

  def else; yield; end

  def else_if_p(*names, &block); @ctx.if_p(*names, &block); end
end

class RenderContext
  attr_reader :spec

  def initialize(properties, spec)
    @raw_properties = properties
    @spec = spec
  end

  def p(*args)
    names = Array(args[0])
    names.each do |name|
      v = lookup(name)
      return v unless v.nil?
    end
    return args[1] if args.length == 2

    raise UnknownProperty, names
  end

  def if_p(*names)
    values = names.map do |name|
      v = lookup(name)
      return InactiveElseBlock.new(self) if v.nil?

      v
    end
    yield(*values)
    ActiveElseBlock.new
  end

  def link(name)
    raise "Can't find link '#{name}'"
  end

  def if_link(_name)
    InactiveElseBlock.new(self)
  end

  def get_binding
    binding
  end

  private

  def lookup(name)
    name.split('.').reduce(@raw_properties) do |h, k|
      return nil unless h.is_a?(Hash) && h.key?(k)

      h[k]
    end
  end
end

def dig_dotted(hash, name)
  name.split('.').reduce(hash) do |h, k|
    return nil unless h.is_a?(Hash) && h.key?(k)

    h[k]
  end
end

def set_dotted(hash, name, value)
  *parents, last = name.split('.')
  parents.reduce(hash) { |h, k| h[k] ||= {} }[last] = value
end

# The director's copy of the properties a job declares: manifest value, else the default.
def job_properties(job_spec, manifest_props)
  out = {}
  (job_spec['properties'] || {}).each do |name, defn|
    v = dig_dotted(manifest_props, name)
    v = (defn || {})['default'] if v.nil?
    set_dotted(out, name, v) unless v.nil?
  end
  out
end

def find_job(manifest, job_name)
  (manifest['instance_groups'] || []).each do |ig|
    (ig['jobs'] || []).each do |j|
      return [ig, j] if j['name'] == job_name
    end
  end
  raise "manifest has no instance group with job '#{job_name}'"
end

def render(job_dir, manifest_path, outdir)
  job_spec = YAML.safe_load(File.read(File.join(job_dir, 'spec')))
  manifest = YAML.safe_load(File.read(manifest_path))
  ig, job = find_job(manifest, job_spec['name'])
  props = job_properties(job_spec, job['properties'] || {})
  spec = OpenStruct.new(
    name: ig['name'], index: 0, id: '00000000-0000-4000-8000-000000000000',
    az: 'z1', bootstrap: true, address: '10.0.0.10', ip: '10.0.0.10',
    deployment: manifest['name'], job: OpenStruct.new(name: job_spec['name']),
    properties: props
  )
  ctx = RenderContext.new(props, spec)
  FileUtils.mkdir_p(outdir)
  (job_spec['templates'] || {}).each do |src, dst|
    text = File.read(File.join(job_dir, 'templates', src))
    begin
      out = ERB.new(text, trim_mode: '-').result(ctx.get_binding)
    rescue StandardError => e
      warn "render: #{src}: #{e.message}"
      exit 1
    end
    path = File.join(outdir, dst)
    FileUtils.mkdir_p(File.dirname(path))
    File.write(path, out)
    File.chmod(dst.start_with?('bin/') ? 0o755 : 0o644, path)
  end
  FileUtils.cp(File.join(job_dir, 'monit'), File.join(outdir, 'monit'))
end

# agent/config.c: `static const struct field NAME[] = { STR("key", ...), OBJ("sect", TABLE) }`.
def config_keys(config_c)
  tables = {}
  File.read(config_c).scan(/static const struct field (\w+)\[\] = \{(.*?)\n\};/m) do |name, body|
    # Every entry is MACRO("key", ...): STR, BOOL, UINT, UINT0, ... and OBJ("key", table).
    tables[name] = body.scan(/\b([A-Z][A-Z0-9_]*)\("([a-z_]+)"(?:,\s*(\w+))?/)
  end
  raise "#{config_c}: no top_fields table" unless tables['top_fields']

  expand = lambda do |table, prefix|
    tables.fetch(table).flat_map do |kind, key, sub|
      kind == 'OBJ' ? expand.call(sub, "#{prefix}#{key}.") : ["#{prefix}#{key}"]
    end
  end
  expand.call('top_fields', '')
end

def check_spec(job_dir, config_c, future)
  keys = config_keys(config_c)
  props = YAML.safe_load(File.read(File.join(job_dir, 'spec')))['properties'] || {}
  problems = []
  mapped = {}
  props.each do |name, defn|
    desc = (defn || {})['description'].to_s
    problems << "property #{name}: no description" if desc.strip.empty?
    desc.scan(/\(config: ([a-z_.]+)\)/) { |(k)| mapped[k] = name }
    next if keys.include?(name) || future.include?(name) || desc.start_with?('(BOSH only)')
    next if desc =~ /\(config: ([a-z_.]+)\)/ && keys.include?(Regexp.last_match(1))

    problems << "property #{name}: neither an attachd config key (#{config_c}) nor a " \
                "'(config: KEY)' mapping nor marked '(BOSH only)'"
  end
  keys.each do |k|
    next if props.key?(k) || mapped.key?(k)

    problems << "config key #{k} (#{config_c}) is not documented in #{job_dir}/spec: add " \
                "a property #{k}, or one whose description says '(config: #{k})'"
  end
  problems.each { |m| warn m }
  exit(problems.empty? ? 0 : 1)
end

case ARGV[0]
when 'render' then render(ARGV[1], ARGV[2], ARGV[3])
when 'config-keys' then puts config_keys(ARGV[1])
when 'check-spec' then check_spec(ARGV[1], ARGV[2], ARGV[3..])
else
  warn 'usage: bosh_render.rb render JOB_DIR MANIFEST OUTDIR | config-keys CONFIG_C | ' \
       'check-spec JOB_DIR CONFIG_C [FUTURE_KEY...]'
  exit 2
end
