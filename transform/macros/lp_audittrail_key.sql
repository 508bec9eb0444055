{% macro lp_audittrail_key(expressions) %}
  {#- A surrogate key: the hash of the expressions as text, nulls as a marker of their own. -#}
  {%- set parts = [] -%}
  {%- for expression in expressions -%}
    {%- if not loop.first -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- do parts.append("coalesce(cast(" ~ expression ~ " as " ~ dbt.type_string() ~ "), '<null>')") -%}
  {%- endfor -%}
  {{ dbt.hash(dbt.concat(parts)) }}
{% endmacro %}


{% macro lp_audittrail_audited_element(expression) %}
  {#- The element (stream name, e.g. `skills`) an objectType belongs to; null for other types. -#}
  case lower(trim({{ expression }}))
  {%- for element, object_types in var('lp_audittrail_object_types').items() %}
    {%- for object_type in object_types %}
    when '{{ object_type | lower | replace("'", "''") }}' then '{{ element }}'
    {%- endfor %}
  {%- endfor %}
  end
{% endmacro %}


{% macro lp_audittrail_lower_list(values) %}
  {#- A SQL list of lower-cased string literals. -#}
  ({%- for value in values -%}'{{ value | lower | replace("'", "''") }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{% endmacro %}


{% macro lp_audittrail_null_safe_equal(left, right) %}
  {#- Equal, or both null (`is not distinct from`, which not every warehouse has). -#}
  ({{ left }} = {{ right }} or ({{ left }} is null and {{ right }} is null))
{% endmacro %}
