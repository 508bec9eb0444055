{#-
  The loaders name the tap's columns differently: target-postgres keeps the tap's names
  ("changeDate"), PyAirbyte's caches fold them to lower case (changedate), Snowflake's loader
  to upper case. These macros find a column by its name in any case, so the staging model
  reads every one of them.
-#}

{% macro lp_audittrail_source_columns(relation) %}
  {#- The relation's columns by lower-cased name (empty while dbt parses). -#}
  {%- set found = {} -%}
  {%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
      {%- do found.update({column.name | lower: column}) -%}
    {%- endfor -%}
  {%- endif -%}
  {{- return(found) -}}
{% endmacro %}


{% macro lp_audittrail_column(columns, name, type) %}
  {#- The column `name` (in any case) cast to `type`; null of that type when it is missing. -#}
  {%- set column = columns.get(name | lower) -%}
  {%- if column is none -%}
    cast(null as {{ type }})
  {%- else -%}
    cast({{ adapter.quote(column.name) }} as {{ type }})
  {%- endif -%}
{% endmacro %}


{% macro lp_audittrail_utc_timestamp(columns, name) %}
  {#- The column `name` as a timestamp without time zone, in UTC, whatever type it was loaded as. -#}
  {%- set column = columns.get(name | lower) -%}
  {%- if column is none -%}
    cast(null as {{ dbt.type_timestamp() }})
  {%- else -%}
    {{- return(adapter.dispatch('lp_audittrail_utc_timestamp', 'lp_audittrail')(adapter.quote(column.name), column.data_type | lower)) -}}
  {%- endif -%}
{% endmacro %}


{% macro default__lp_audittrail_utc_timestamp(expression, data_type) %}
  {%- if 'with time zone' in data_type or 'timestamptz' in data_type -%}
    cast({{ expression }} at time zone 'UTC' as {{ dbt.type_timestamp() }})
  {%- elif 'timestamp' in data_type -%}
    cast({{ expression }} as {{ dbt.type_timestamp() }})
  {%- else -%}
    {#- text, as the file loaders leave it: RFC 3339 with its offset -#}
    cast(cast({{ expression }} as timestamp with time zone) at time zone 'UTC' as {{ dbt.type_timestamp() }})
  {%- endif -%}
{% endmacro %}


{% macro snowflake__lp_audittrail_utc_timestamp(expression, data_type) %}
  {%- if 'timestamp_ntz' in data_type -%}
    cast({{ expression }} as timestamp_ntz)
  {%- else -%}
    convert_timezone('UTC', cast({{ expression }} as timestamp_tz))::timestamp_ntz
  {%- endif -%}
{% endmacro %}


{% macro bigquery__lp_audittrail_utc_timestamp(expression, data_type) %}
  datetime(cast({{ expression }} as timestamp), 'UTC')
{% endmacro %}
